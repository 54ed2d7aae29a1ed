#!/usr/bin/python3
"""count.py N: the seed's loop, counting to N, as a jobd program kind.

jobd runs it with N from the job's parameter n (count-py.kind). It reports
"DONE TOTAL" on fd 3 (JOBD_PROGRESS_FD) every 2^16 iterations, a few
milliseconds of work in CPython, and prints N when it gets there: that is
the job's result. SIGTERM (cancel, timeout, jobd stopping) ends it at once:
Python leaves SIGTERM's default action alone. Run by hand, without fd 3,
it reports nothing.
"""
import os
import sys

CHUNK = 1 << 16


def main():
    try:
        n = int(sys.argv[1])
        if n < 1:
            raise ValueError
    except (IndexError, ValueError):
        sys.stderr.write("count.py: n must be a whole number >= 1\n")
        return 100  # a bad parameter: failed, and retrying will not help
    fd = int(os.environ.get("JOBD_PROGRESS_FD", "3"))

    def progress(done):
        nonlocal fd
        if fd < 0:
            return
        try:
            os.write(fd, b"%d %d\n" % (done, n))
        except OSError:
            fd = -1  # no fd 3: run by hand

    x = 0
    done = 0
    while done < n:
        progress(done)
        end = min(done + CHUNK, n)
        for i in range(done, end):
            x += i
        done = end
    progress(n)
    sys.stdout.write("%d\n" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
