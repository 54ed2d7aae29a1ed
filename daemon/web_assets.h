#ifndef JOBD_WEB_ASSETS_H
#define JOBD_WEB_ASSETS_H

/*
 * web_assets: the status page's files (daemon/web/), embedded in the binary
 * at build time by embed_web.cmake, which writes the table below into
 * web_assets.c in the build directory. Nothing is read from disk at run
 * time.
 */

#include <stddef.h>

struct web_asset {
	const char *path; /* "/index.html": the file's path under web/ */
	const char *type; /* Content-Type, from the extension */
	const unsigned char *data;
	size_t len;
};

/* Every file, in path order; web_nassets of them. */
extern const struct web_asset web_assets[];
extern const size_t web_nassets;

#endif
