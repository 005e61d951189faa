"""Root conftest: the project's own plugin is loaded through its pytest11 entry point."""
