#!/bin/sh
echo "attempt $JOBD_ATTEMPT of job $JOBD_JOB_ID failed: $JOBD_PARAM_WHY" >&2
exit 3
