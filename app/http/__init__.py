"""HTTP concerns before and around GraphQL: middleware, proxies, hosts and HTTPS, rate limits,
media-type negotiation, metrics, health, and the typed state one request's steps share."""
