#!/usr/bin/python3
"""wc.py: the lines, words and bytes of stdin, as `wc` counts them in the C
locale (words are separated by ASCII whitespace).

The jobd program kind wc.kind: the job's input arrives on stdin (at most
max_input bytes, so reading it whole is fine), and the one line printed here
is the job's result.
"""
import sys

data = sys.stdin.buffer.read()
print(data.count(b"\n"), len(data.split()), len(data))
