#ifndef JOBD_KINDFILE_H
#define JOBD_KINDFILE_H

/*
 * kindfile: the files of a kinds directory (*.kind, INI, read with
 * libinih). A file defines one program kind ([kind] with a program) or
 * names a C plugin ([plugin]); docs/kinds.md describes the format.
 */

#include <stddef.h>

#include "registry.h"

/*
 * Reads one kind file and adds what it defines to ks (a program kind, or
 * the kinds of the plugin it names). JOBD_OK, or JOBD_INVALID_ARGUMENT
 * with "FILE:LINE: what is wrong" in err (several lines when several
 * things are wrong), ks unchanged but for kinds added before the error
 * (the caller drops ks then).
 */
int kindfile_load(kindset *ks, const char *path, char *err, size_t errlen);

/*
 * Reads every *.kind file of dir, in name order, into ks. Other files are
 * ignored. JOBD_OK, or JOBD_INVALID_ARGUMENT with every file's problems in
 * err, one per line.
 */
int kindfile_load_dir(kindset *ks, const char *dir, char *err, size_t errlen);

#endif
