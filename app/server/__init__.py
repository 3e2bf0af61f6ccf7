"""How `dpo web` runs uvicorn: the bound socket, the HTTP and WebSocket protocols with our
deadlines, and the drain on SIGTERM."""
