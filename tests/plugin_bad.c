/*
 * Plugins that jobd must refuse, for test_kindfile, one per value of
 * PLUGIN_BAD:
 *   1  a stamp that claims kind API 99 (with other sizes, too);
 *   2  kind API 1 with a wrong struct size;
 *   3  a good stamp, and an init that adds a bad row and fails.
 */
#include <jobd/kind.h>

#if PLUGIN_BAD == 1 || PLUGIN_BAD == 2
#if PLUGIN_BAD == 1
#define BAD_VERSION 99
#define BAD_GROW    8
#else
#define BAD_VERSION 1
#define BAD_GROW    16
#endif
JOBD_PLUGIN_EXPORT const struct jobd_plugin_stamp jobd_plugin_stamp = {
    BAD_VERSION, (uint32_t) sizeof(struct jobd_kind) + BAD_GROW,
    (uint32_t) sizeof(struct jobd_param),
    (uint32_t) sizeof(struct jobd_host) + BAD_GROW,
    (uint32_t) sizeof(struct jobd_registrar)};
JOBD_PLUGIN_EXPORT int jobd_plugin_init(struct jobd_registrar *reg);
JOBD_PLUGIN_EXPORT int
jobd_plugin_init(struct jobd_registrar *reg)
{
	(void) reg;
	return 0; /* never called */
}
#else
static const struct jobd_kind bad_kind = {.name = "no spaces allowed"};

static int
bad_init(struct jobd_registrar *reg)
{
	return reg->add_kind(reg, &bad_kind);
}

JOBD_PLUGIN(bad_init)
#endif
