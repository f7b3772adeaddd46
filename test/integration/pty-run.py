"""Runs a command with its stderr (and stdin) on a pseudo-terminal of a given size.

Usage: python3 pty-run.py COLUMNS ROWS STDOUT_FILE COMMAND [ARG...]

The command's stdout goes to STDOUT_FILE; everything it writes to the terminal is copied raw to
this script's stdout. Exits with the command's exit code (128 + N for signal N). With
PTY_CTRL_C_AFTER=REGEX in the environment, types Ctrl-C once the terminal output matches REGEX.
"""
import fcntl
import os
import pty
import re
import struct
import sys
import termios

ctrl_c_after = os.environ.pop("PTY_CTRL_C_AFTER", None)

columns, rows, stdout_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
command = sys.argv[4:]

pid, master = pty.fork()
if pid == 0:
    # The child: its stdin, stdout and stderr are the terminal; give it its size, then move
    # stdout to the file so that only stderr (logs and progress) draws on the terminal.
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    out = os.open(stdout_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.close(out)
    os.execvp(command[0], command)

captured = bytearray()
pattern = re.compile(ctrl_c_after.encode()) if ctrl_c_after else None
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the child closed the terminal
        break
    if not chunk:
        break
    captured += chunk
    if pattern is not None and pattern.search(captured):
        os.write(master, b"\x03")  # the terminal sends SIGINT to the command, as a user's Ctrl-C
        pattern = None
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(bytes(captured))
sys.stdout.flush()
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
