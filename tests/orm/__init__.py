"""ORM acceptance tests (issue #4): sessions, states, relationships, unit of work."""
