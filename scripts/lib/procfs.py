"""What /proc says about a process, for the test and bench scripts (Linux)."""


def rss_kib(pid):
    """VmRSS of `pid` in KiB, or None (no such process, or no /proc)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
