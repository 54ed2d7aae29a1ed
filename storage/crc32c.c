/*
 * crc32c.c: CRC-32C (Castagnoli), reflected, as iSCSI, ext4 and Btrfs use
 * it: polynomial 0x1EDC6F41 (0x82F63B78 reflected), initial value and
 * final XOR all ones. "123456789" gives 0xE3069283.
 *
 * Why this function: it is made to find damage, not to resist an attacker
 * (whoever can write the database can write the checksum too). A CRC of 32
 * bits finds every burst of up to 32 flipped bits and every odd number of
 * flipped bits, and misses other random damage with probability 2^-32;
 * Castagnoli's polynomial keeps a Hamming distance of at least 4 over
 * longer messages than the older CRC-32's does. It needs nothing beyond
 * this file.
 *
 * Slicing by 8 (Intel's, 2006): eight tables of 256 entries, built once on
 * first use, let the loop take eight bytes per step with eight lookups,
 * several times faster than a byte at a time, and several times faster
 * than the sha256 kind reads its input. The CPU's own instruction
 * (SSE 4.2, ARMv8 CRC) would be faster still, but the inputs are at most
 * a request's size, and one portable path is one path to test.
 */
#include "crc32c.h"

#include <pthread.h>

#define CRC32C_POLY 0x82F63B78u /* reflected */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] =
			    (crc_table[t - 1][i] >> 8) ^
			    crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t
crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (; n >= 8; n -= 8, b += 8) {
		/* little-endian order by hand: no alignment or byte-order
		 * assumption, and compilers make it one load */
		uint32_t lo =
		    crc ^ ((uint32_t) b[0] | (uint32_t) b[1] << 8 |
		           (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24);
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][b[4]] ^ crc_table[2][b[5]] ^
		      crc_table[1][b[6]] ^ crc_table[0][b[7]];
	}
	for (; n > 0; n--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *b++) & 0xff];
	return ~crc;
}
