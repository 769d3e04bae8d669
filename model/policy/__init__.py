"""The guide as policy: actions, routing, priority, reply templates and deadlines for a classification."""
