"""The embedded mode: emulators that let the real code run on one machine, offline."""
