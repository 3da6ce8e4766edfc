/* libFuzzer target: ELF inspection (builder/elf.c) of any bytes, through
 * the same path mkimage takes (a file). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../builder/builder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct mb_err err = {0};
	struct elf_info info;

	if (fd < 0) {
		if ((fd = memfd_create("fuzz-elf", 0)) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (elf_inspect(path, &info, &err) == 0)
		elf_info_free(&info);
	else if (!err.msg[0])
		abort(); /* every refusal says why */
	for (int a = 0; a < 2; a++)
		if (elf_check_static(path, a ? "arm64" : "amd64", NULL, &err) < 0 && !err.msg[0])
			abort();
	return 0;
}
