"""HTTP routes, one router per resource; `server.py` mounts them."""
