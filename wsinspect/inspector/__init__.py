"""The inspector: its own process. Listens for apps, stores what they stream, shows it, reads and writes files."""
