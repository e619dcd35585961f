"""Lambda handlers: thin — parse, call the library, return."""
