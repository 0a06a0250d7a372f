"""Constants shared by modules that must not import each other's dependencies.

The wrapper starts the command before it imports the parsers (start-up time
counts for a hook), so what it shares with them lives here, in a module that
imports nothing.
"""

# The input formats ``--format`` takes.
FORMATS = ("auto", "text", "json", "autorestic")
# A longer line is cut (its start is parsed): restic never prints one, a binary
# or corrupted input may, and memory must stay bounded.
MAX_LINE = 1 << 20
