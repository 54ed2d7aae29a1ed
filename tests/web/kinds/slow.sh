#!/bin/sh
# STEPS steps of 200 ms, each reported as progress on descriptor 3
# (docs/kinds.md, "Progress"); the result is one line of text.
n=${JOBD_PARAM_STEPS:-20}
i=0
while [ "$i" -lt "$n" ]; do
	{ echo "$i $n" >&3; } 2>/dev/null
	sleep 0.2
	i=$((i + 1))
done
{ echo "$n $n" >&3; } 2>/dev/null
echo "done after $n steps"
