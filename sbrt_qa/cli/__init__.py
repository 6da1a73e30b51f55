"""Command-line apps: testable ``main(argv)`` functions returning exit codes."""
