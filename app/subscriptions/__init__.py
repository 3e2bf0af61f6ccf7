"""Subscription transports: GraphQL over WebSocket (ws*) and over Server-Sent Events (sse*),
their sign-in, stream tickets, connection caps and directly written shared frames."""
