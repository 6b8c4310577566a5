"""The prisoner's shell: an unprivileged Kivy app that talks only to the agent."""
