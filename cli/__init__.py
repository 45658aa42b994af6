"""The ``shopflow`` command line: imports the other packages, none imports it."""
