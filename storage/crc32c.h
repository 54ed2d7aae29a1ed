#ifndef JOBD_CRC32C_H
#define JOBD_CRC32C_H

/*
 * crc32c: CRC-32C (Castagnoli), the checksum of the stored inputs and
 * results (store.c).
 */

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of the n bytes at p, continuing from crc: start with 0, and
 * crc32c(crc32c(0, a, n), b, m) is the CRC of a followed by b. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
