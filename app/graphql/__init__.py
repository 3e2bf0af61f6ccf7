"""GraphQL over HTTP: Strawberry's view, the schema's composition, the caller's authentication,
the response cache, query cost and the bounds on what a request may send."""
