"""The Kivy side of the shell. Importing this package does not open a window."""
