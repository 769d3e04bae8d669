// The npm package perspective-api-client, unchanged, against sift instead of Google.
//
// Its URL is a constant (COMMENT_ANALYZER_URL in its index.js) and it posts through the shared default axios
// instance, so one axios request interceptor sends its requests to sift: the URL's Google origin is replaced by
// SIFT_BASE and nothing else changes (the ?key= parameter, the body, the answer are the client's own).
//
//   SIFT_BASE=http://127.0.0.1:8000 SIFT_KEY=sift_... node analyze.js
'use strict';
const path = require('path');
const Perspective = require('perspective-api-client');
// The axios the client itself loads (resolved from its own folder), so the interceptor is on its instance.
const axios = require(require.resolve('axios', {paths: [path.dirname(require.resolve('perspective-api-client'))]}));

const GOOGLE = 'https://commentanalyzer.googleapis.com';
const base = process.env.SIFT_BASE;
if (!base) {
  console.error('set SIFT_BASE to the sift server, e.g. http://127.0.0.1:8000');
  process.exit(2);
}
const key = process.env.SIFT_KEY;
axios.interceptors.request.use(config => {
  if (config.url.startsWith(GOOGLE)) {
    config.url = base.replace(/\/$/, '') + config.url.slice(GOOGLE.length);
    if (!key && config.params) {
      delete config.params.key; // the placeholder below: sift refuses a key it does not know, even on loopback
    }
  }
  return config;
});

(async () => {
  // The client insists on a key; where sift does not require one (loopback), a placeholder is sent and
  // dropped by the interceptor.
  const perspective = new Perspective({apiKey: key || 'none'});
  const out = {};
  // The client's README example: TOXICITY by default, doNotStore true by default.
  out.analyze = await perspective.analyze('you empty-headed animal food trough wiper!');
  out.attributes = await perspective.analyze('You stupid idiot, I will smash your face in', {
    attributes: ['toxicity', 'severe_toxicity', 'identity_attack', 'insult', 'profanity', 'threat'],
  });
  out.spans = await perspective.analyze({comment: {text: 'what the f*ck, you idiot'}, spanAnnotations: true,
    clientToken: 'js-1', languages: ['en']}, {attributes: ['insult', 'profanity']});
  try {
    await perspective.analyze('hello', {attributes: ['flirtation']});
    out.unknown_attribute = 'no error';
  } catch (error) {
    out.unknown_attribute = {name: error.name, message: error.message, status: error.response.status,
      errorType: error.response.data.error.details[0].errorType};
  }
  console.log(JSON.stringify(out, null, 2));
})().catch(error => {
  console.error(error.name + ': ' + error.message);
  process.exit(1);
});
