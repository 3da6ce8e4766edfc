/* The seccomp file format v1: what mkimage's policy compiler (policies/)
 * writes and minbase-init (init/seccomp.c) loads.  The init owns the format
 * (it is the consumer): this header is its only definition, included by
 * both sides, so the writer and the reader cannot drift apart.  Macros
 * only: no code, nothing to link.  All integers little-endian:
 *   0  8    magic "MBSECCMP"
 *   8  4    version = 1
 *   12 4    audit arch (AUDIT_ARCH_X86_64 0xC000003E, AUDIT_ARCH_AARCH64 0xC00000B7)
 *   16 4    n = instruction count, 1..4096
 *   20 4    flags, must be 0
 *   24 8n   struct sock_filter[n]: u16 code, u8 jt, u8 jf, u32 k
 *   24+8n 4 crc32 (zlib's) of bytes [0, 24+8n)
 * and the file is exactly 28+8n bytes. */
#ifndef MINBASE_SECCOMP_FILE_H
#define MINBASE_SECCOMP_FILE_H

#define FILTER_FILE_MAGIC    "MBSECCMP"
#define FILTER_FILE_VERSION  1
#define FILTER_FILE_HDR      24      /* bytes before the instructions */
#define FILTER_FILE_MAXINSNS 4096    /* the kernel's BPF_MAXINSNS */
/* Size of a file of n instructions, and the count a size stands for. */
#define FILTER_FILE_SIZE(n)     (FILTER_FILE_HDR + 8 * (size_t)(n) + 4)
#define FILTER_FILE_INSNS(size) (((size_t)(size) - FILTER_FILE_HDR - 4) / 8)

#endif
