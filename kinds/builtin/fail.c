/*
 * fail: fails at once with the given message (tests, demos, and retries).
 */
#include "builtin.h"

static int
fail_run(jobd_job *job, const struct jobd_host *host)
{
	const char *msg = host->param(job, "message");

	return host->fail(job, "%s", msg != NULL ? msg : "");
}

static const struct jobd_param fail_params[] = {
    {
        .name = "message",
        .type = JOBD_PARAM_STRING,
        .min = 0,
        .max = 1024,
        .def = "failed on purpose",
        .desc = "the error message to fail with",
    },
};

static const struct jobd_kind fail_kind = {
    .name = "fail",
    .desc = "fails at once, with message as the error",
    .params = fail_params,
    .nparams = sizeof(fail_params) / sizeof(fail_params[0]),
    .run = fail_run,
};

int
builtin_fail(struct jobd_registrar *reg)
{
	return reg->add_kind(reg, &fail_kind);
}
