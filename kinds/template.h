#ifndef JOBD_TEMPLATE_H
#define JOBD_TEMPLATE_H

/*
 * template (tmpl_): a program kind's argument words. A word is text with
 * placeholders: {name} for parameter `name` of the kind (its value, else
 * its default, else empty), and jobd's own in capitals: {JOB_ID},
 * {ATTEMPT}, {KIND_DIR} (the directory of the kind file). {{ and }} stand
 * for literal braces. A word is always exactly one argument, whatever the
 * values hold: no shell ever sees it.
 */

#include <stddef.h>
#include <stdint.h>

#include <jobd/kind.h>

/* Checks word for kind k: every brace paired, every placeholder known.
 * JOBD_OK, or JOBD_INVALID_ARGUMENT with the reason in err. */
int tmpl_check(const char *word, const struct jobd_kind *k, char *err,
               size_t errlen);

/* The values of jobd's own placeholders. */
struct tmpl_vars {
	uint64_t job_id;
	uint32_t attempt;
	const char *kind_dir;
};

/*
 * The word with its placeholders replaced: parameters through
 * host->param(job, name). A malloc'd string, or NULL when out of memory.
 * Only for a word that tmpl_check() accepted.
 */
char *tmpl_expand(const char *word, jobd_job *job, const struct jobd_host *host,
                  const struct tmpl_vars *v);

#endif
