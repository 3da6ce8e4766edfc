/* ELF inspection with libelf: is this binary something a minbase image can
 * run?  An image has no libc and no dynamic loader, so the service must be a
 * static executable (static-PIE is fine: it relocates itself) for the
 * image's architecture.  When it is not, the message says why and how to fix
 * it, naming the toolchain that probably made it. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "builder.h"

#ifndef EM_AARCH64
#define EM_AARCH64 183
#endif
#ifndef DF_1_PIE
#define DF_1_PIE 0x08000000
#endif


const char *arch_normalize(const char *arch)
{
	if (!arch)
		return NULL;
	if (!strcmp(arch, "amd64") || !strcmp(arch, "x86_64") || !strcmp(arch, "x86-64"))
		return "amd64";
	if (!strcmp(arch, "arm64") || !strcmp(arch, "aarch64"))
		return "arm64";
	return NULL;
}

const char *arch_host(void)
{
	struct utsname u;
	if (uname(&u) == 0 && arch_normalize(u.machine))
		return arch_normalize(u.machine);
	return "amd64";
}

const char *arch_kernel_name(const char *oci_arch)
{
	const char *a = arch_normalize(oci_arch);
	if (!a)
		return NULL;
	return strcmp(a, "amd64") == 0 ? "x86_64" : "aarch64";
}

static const char *machine_name(unsigned m)
{
	switch (m) {
	case EM_X86_64: return "x86_64";
	case EM_AARCH64: return "aarch64";
	case EM_386: return "i386";
	case EM_ARM: return "arm (32-bit)";
	case EM_RISCV: return "riscv";
	case EM_PPC64: return "ppc64";
	case EM_S390: return "s390x";
	case EM_MIPS: return "mips";
	default: return NULL;
	}
}

void elf_info_free(struct elf_info *info)
{
	if (!info)
		return;
	free(info->interp);
	strv_free(info->needed);
	memset(info, 0, sizeof(*info));
}

static int add_needed(struct elf_info *info, const char *name)
{
	return strv_push(&info->needed, &info->nneeded, name);
}

/* Maps a virtual address to a file offset through the PT_LOAD segments
 * (for binaries stripped of their section headers). */
static int vaddr_to_off(Elf *e, size_t phnum, uint64_t vaddr, uint64_t *off)
{
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = ph.p_offset + (vaddr - ph.p_vaddr);
			return 0;
		}
	}
	return -1;
}

/* A string at file offset off, bounded by the file: NULL if it runs off the end. */
static const char *raw_str(const char *raw, size_t size, uint64_t off)
{
	if (off >= size)
		return NULL;
	if (!memchr(raw + off, '\0', size - off))
		return NULL;
	return raw + off;
}

/* Reads DT_NEEDED (and DT_SONAME/DT_FLAGS_1) from PT_DYNAMIC, resolving
 * DT_STRTAB through the load segments: works with or without sections. */
static int read_dynamic(Elf *e, const char *raw, size_t size, size_t phnum,
                        const GElf_Phdr *dyn, struct elf_info *info,
                        bool *has_soname, bool *pie_flag, const char *path, struct mb_err *err)
{
	if (dyn->p_offset > size || dyn->p_filesz > size - dyn->p_offset)
		return mb_error(err, 0, "`%s` is a truncated or corrupt ELF file: its dynamic segment "
		       "lies past the end of the file", path);
	Elf_Data *d = elf_getdata_rawchunk(e, (int64_t)dyn->p_offset, dyn->p_filesz, ELF_T_DYN);
	if (!d)
		return mb_error(err, 0, "`%s` is a corrupt ELF file: cannot read its dynamic segment: %s",
		       path, elf_errmsg(-1));
	size_t entsz = gelf_fsize(e, ELF_T_DYN, 1, EV_CURRENT);
	size_t n = entsz ? d->d_size / entsz : 0;
	uint64_t strtab = 0;
	bool have_strtab = false;
	for (size_t i = 0; i < n; i++) {
		GElf_Dyn dy;
		if (!gelf_getdyn(d, (int)i, &dy) || dy.d_tag == DT_NULL)
			break;
		if (dy.d_tag == DT_STRTAB) {
			strtab = dy.d_un.d_ptr;
			have_strtab = true;
		} else if (dy.d_tag == DT_SONAME) {
			*has_soname = true;
		} else if (dy.d_tag == DT_FLAGS_1 && (dy.d_un.d_val & DF_1_PIE)) {
			*pie_flag = true;
		}
	}
	uint64_t stroff = 0;
	bool strok = have_strtab && vaddr_to_off(e, phnum, strtab, &stroff) == 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Dyn dy;
		if (!gelf_getdyn(d, (int)i, &dy) || dy.d_tag == DT_NULL)
			break;
		if (dy.d_tag != DT_NEEDED)
			continue;
		const char *s = strok ? raw_str(raw, size, stroff + dy.d_un.d_val) : NULL;
		if (add_needed(info, s ? s : "(unreadable name)") < 0)
			return mb_error(err, 0, "cannot inspect `%s`: out of memory", path);
	}
	return 0;
}

/* Section-based toolchain hints; a stripped binary still keeps these. */
static const char *guess_toolchain(Elf *e, const char *raw, size_t size,
                                   const struct elf_info *info)
{
	size_t shstrndx;
	bool go = false, rust = false, musl = false, glibc = false, cxx = false;
	if (elf_getshdrstrndx(e, &shstrndx) == 0) {
		Elf_Scn *scn = NULL;
		while ((scn = elf_nextscn(e, scn)) != NULL) {
			GElf_Shdr sh;
			if (!gelf_getshdr(scn, &sh))
				continue;
			const char *nm = elf_strptr(e, shstrndx, sh.sh_name);
			if (!nm)
				continue;
			if (!strcmp(nm, ".go.buildinfo") || !strcmp(nm, ".note.go.buildid") ||
			    !strcmp(nm, ".gopclntab") || !strcmp(nm, ".gosymtab"))
				go = true;
			if (!strcmp(nm, ".comment") && sh.sh_type != SHT_NOBITS &&
			    sh.sh_offset < size && sh.sh_size <= size - sh.sh_offset &&
			    memmem(raw + sh.sh_offset, sh.sh_size, "rustc version", 13))
				rust = true;
		}
	}
	if (info->interp) {
		if (strstr(info->interp, "ld-musl"))
			musl = true;
		else if (strstr(info->interp, "ld-linux"))
			glibc = true;
	}
	for (size_t i = 0; i < info->nneeded; i++) {
		if (strstr(info->needed[i], "libstdc++") || strstr(info->needed[i], "libc++"))
			cxx = true;
		if (!strncmp(info->needed[i], "libc.so.6", 9))
			glibc = true;
		if (!strncmp(info->needed[i], "libc.musl", 9))
			musl = true;
	}
	if (go)
		return "go";
	if (rust)
		return "rust";
	if (cxx)
		return musl ? "c++/musl" : "c++/glibc";
	if (musl)
		return "c/musl";
	if (glibc)
		return "c/glibc";
	return NULL;
}

static int read_all(int fd, char **out, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	size_t cap = st.st_size > 0 ? (size_t)st.st_size : 4096, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return -1;
	for (;;) {
		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int inspect_buf(const char *path, char *raw, size_t size,
                       struct elf_info *info, struct mb_err *err)
{
	if (size >= 2 && raw[0] == '#' && raw[1] == '!') {
		size_t l = strcspn(raw + 2, "\n");
		if (l > 60)
			l = 60;
		return mb_error(err, 0, "`%s` is a script (`#!%.*s`), not an ELF binary: a minbase image has "
		       "no shell or interpreter; give a static binary or its sources "
		       "(a Go module directory or C files)", path, (int)l, raw + 2);
	}
	if (size < 4 || memcmp(raw, ELFMAG, SELFMAG) != 0)
		return mb_error(err, 0, "`%s` is not an ELF binary (%s): give a static executable, a Go module "
		       "directory or C sources", path, size == 0 ? "the file is empty" :
		       "no ELF magic at its start");
	if (size < EI_NIDENT || (raw[EI_CLASS] != ELFCLASS64 && raw[EI_CLASS] != ELFCLASS32))
		return mb_error(err, 0, "`%s` is a truncated or corrupt ELF file: %s", path,
		       size < EI_NIDENT ? "it ends inside its identification bytes" :
		       "unknown ELF class");
	size_t ehsz = raw[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (size < ehsz)
		return mb_error(err, 0, "`%s` is a truncated ELF file: %zu bytes, shorter than its own "
		       "header (%zu bytes)", path, size, ehsz);

	Elf *e = elf_memory(raw, size);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		mb_error(err, 0, "`%s` is a corrupt ELF file: %s", path, elf_errmsg(-1));
		if (e)
			elf_end(e);
		return -1;
	}
	int rc = -1;
	GElf_Ehdr eh;
	size_t phnum = 0;
	if (!gelf_getehdr(e, &eh)) {
		mb_error(err, 0, "`%s` is a corrupt ELF file: cannot read its header: %s", path,
		       elf_errmsg(-1));
		goto out;
	}
	info->machine = eh.e_machine;
	info->elfclass = gelf_getclass(e) == ELFCLASS64 ? 64 : 32;
	info->arch = NULL;
	if (eh.e_machine == EM_X86_64 && info->elfclass == 64)
		info->arch = "amd64";
	else if (eh.e_machine == EM_AARCH64 && info->elfclass == 64)
		info->arch = "arm64";
	if (eh.e_type == ET_REL || eh.e_type == ET_CORE) {
		mb_error(err, 0, "`%s` is %s, not an executable: link it into a program first", path,
		       eh.e_type == ET_REL ? "an object file (ET_REL)" : "a core dump");
		goto out;
	}
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
		mb_error(err, 0, "`%s` is a corrupt ELF file: unknown type %u", path, (unsigned)eh.e_type);
		goto out;
	}
	/* Bounds first, from the header itself: libelf refuses a truncated
	 * table with a generic error, we say what is wrong. */
	if (eh.e_phnum > 0 && eh.e_phnum != PN_XNUM &&
	    (eh.e_phoff > size || (uint64_t)eh.e_phnum * eh.e_phentsize > size - eh.e_phoff)) {
		mb_error(err, 0, "`%s` is a truncated or corrupt ELF file: its program headers lie "
		       "past the end of the file (%zu bytes)", path, size);
		goto out;
	}
	if (elf_getphdrnum(e, &phnum) != 0 || phnum == 0) {
		mb_error(err, 0, "`%s` is a corrupt ELF file: no program headers, so it cannot be run",
		       path);
		goto out;
	}
	/* libelf checks the table against the size, but say it in our words. */
	if (eh.e_phoff > size || (uint64_t)phnum * eh.e_phentsize > size - eh.e_phoff) {
		mb_error(err, 0, "`%s` is a truncated or corrupt ELF file: its program headers lie "
		       "past the end of the file (%zu bytes)", path, size);
		goto out;
	}

	info->needed = calloc(1, sizeof(char *));
	if (!info->needed) {
		mb_error(err, 0, "cannot inspect `%s`: out of memory", path);
		goto out;
	}
	bool has_soname = false, pie_flag = false, has_dynamic = false;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph)) {
			mb_error(err, 0, "`%s` is a corrupt ELF file: cannot read program header %zu: %s",
			       path, i, elf_errmsg(-1));
			goto out;
		}
		/* The kernel uses the first PT_INTERP (binfmt_elf stops at it);
		 * so do we, and a second one cannot leak the first's copy. */
		if (ph.p_type == PT_INTERP && !info->interp) {
			if (ph.p_offset >= size || ph.p_filesz > size - ph.p_offset || ph.p_filesz == 0) {
				mb_error(err, 0, "`%s` is a truncated or corrupt ELF file: its interpreter "
				       "path lies past the end of the file", path);
				goto out;
			}
			info->interp = strndup(raw + ph.p_offset, ph.p_filesz);
			if (!info->interp) {
				mb_error(err, 0, "cannot inspect `%s`: out of memory", path);
				goto out;
			}
		} else if (ph.p_type == PT_DYNAMIC) {
			has_dynamic = true;
			if (read_dynamic(e, raw, size, phnum, &ph, info, &has_soname, &pie_flag,
			                 path, err) < 0)
				goto out;
		}
	}
	if (info->interp || info->nneeded > 0)
		info->link = ELF_LINK_DYNAMIC;
	else if (eh.e_type == ET_DYN)
		info->link = ELF_LINK_STATIC_PIE;
	else
		info->link = ELF_LINK_STATIC;
	if (info->link == ELF_LINK_STATIC_PIE && has_soname && !pie_flag) {
		mb_error(err, 0, "`%s` is a shared library, not an executable", path);
		goto out;
	}
	(void)has_dynamic;
	info->toolchain = guess_toolchain(e, raw, size, info);
	rc = 0;
out:
	elf_end(e);
	if (rc < 0)
		elf_info_free(info);
	return rc;
}

int elf_inspect(const char *path, struct elf_info *info, struct mb_err *err)
{
	memset(info, 0, sizeof(*info));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return mb_error(err, 0, "cannot initialise libelf: %s", elf_errmsg(-1));
	int fd;
	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return mb_error(err, errno, "cannot open `%s`", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		mb_error(err, errno, "cannot stat `%s`", path);
		close(fd);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		mb_error(err, 0, "`%s` is a directory, not a binary", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		mb_error(err, 0, "`%s` is not a regular file", path);
		close(fd);
		return -1;
	}
	char *raw = NULL;
	size_t size = 0;
	if (read_all(fd, &raw, &size) < 0) {
		mb_error(err, errno, "cannot read `%s`", path);
		close(fd);
		return -1;
	}
	close(fd);
	int rc = inspect_buf(path, raw, size, info, err);
	free(raw);
	return rc;
}

/* The flag or command that makes a static binary, per toolchain. */
static const char *static_hint(const char *tc)
{
	if (!tc)
		return "link it statically (`-static`; for C, `musl-gcc -static` or "
		       "`mkimage --static FILE.c`)";
	if (!strcmp(tc, "go"))
		return "rebuild it with `CGO_ENABLED=0 go build` (or give mkimage the module "
		       "directory: `mkimage --static DIR`)";
	if (!strcmp(tc, "rust"))
		return "build it for the musl target: `cargo build --release --target "
		       "x86_64-unknown-linux-musl` (static by default)";
	if (!strncmp(tc, "c++", 3))
		return "link it statically: `-static` (with musl: `musl-gcc -static`, or "
		       "`g++ -static -static-libstdc++`)";
	if (!strcmp(tc, "c/musl"))
		return "link it with `-static` (`musl-gcc -static`), or give mkimage the "
		       "sources: `mkimage --static FILE.c`";
	return "link it with `-static`, best against musl (`musl-gcc -static`), or give "
	       "mkimage the sources: `mkimage --static FILE.c`";
}

int elf_inspect_mem(const char *path, const void *raw, size_t size, struct elf_info *info,
                    struct mb_err *err)
{
	memset(info, 0, sizeof(*info));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return mb_error(err, 0, "cannot initialise libelf: %s", elf_errmsg(-1));
	/* libelf reads an elf_memory() image without writing to it */
	return inspect_buf(path, (char *)raw, size, info, err);
}

static int check_static(const char *path, struct elf_info info, const char *arch,
                        struct elf_info *out, struct mb_err *err);

int elf_check_static_as(const char *path, const char *name, const char *arch,
                        struct elf_info *out, struct mb_err *err)
{
	struct elf_info info;
	if (elf_inspect(path, &info, err) < 0)
		return -1;
	return check_static(name, info, arch, out, err);
}

int elf_check_static(const char *path, const char *arch, struct elf_info *out,
                     struct mb_err *err)
{
	return elf_check_static_as(path, path, arch, out, err);
}

int elf_check_static_mem(const char *path, const void *raw, size_t size, const char *arch,
                         struct elf_info *out, struct mb_err *err)
{
	struct elf_info info;
	if (elf_inspect_mem(path, raw, size, &info, err) < 0)
		return -1;
	return check_static(path, info, arch, out, err);
}

/* Takes ownership of info. */
static int check_static(const char *path, struct elf_info info, const char *arch,
                        struct elf_info *out, struct mb_err *err)
{
	const char *want = arch_normalize(arch);
	if (want && (!info.arch || strcmp(info.arch, want) != 0)) {
		const char *mn = machine_name(info.machine);
		char mbuf[32];
		if (!mn) {
			snprintf(mbuf, sizeof(mbuf), "machine %u", info.machine);
			mn = mbuf;
		}
		mb_error(err, 0, "`%s` is built for %s%s, but the image is for %s (%s): rebuild it "
		       "for %s%s", path, info.arch ? info.arch : mn,
		       info.arch ? "" : (info.elfclass == 32 ? " (32-bit)" : ""),
		       want, arch_kernel_name(want), want,
		       info.arch ? " or pass `--arch` to match the binary" :
		       " (minbase images are amd64 or arm64)");
		elf_info_free(&info);
		return -1;
	}
	if (info.link == ELF_LINK_DYNAMIC) {
		char libs[256] = "";
		size_t off = 0;
		for (size_t i = 0; i < info.nneeded && off < sizeof(libs); i++) {
			int n = snprintf(libs + off, sizeof(libs) - off, "%s%s", i ? ", " : "",
			                 info.needed[i]);
			if (n < 0)
				break;
			off += (size_t)n;
		}
		mb_error(err, 0, "`%s` is dynamically linked (interpreter %s; needs %s)%s%s%s: a "
		       "minbase image has no libc or loader; %s",
		       path, info.interp ? info.interp : "none",
		       info.nneeded ? libs : "no libraries",
		       info.toolchain ? ", probably built by " : "",
		       info.toolchain ? info.toolchain : "",
		       info.toolchain && !strcmp(info.toolchain, "go") ? " with cgo" : "",
		       static_hint(info.toolchain));
		elf_info_free(&info);
		return -1;
	}
	if (out)
		*out = info;
	else
		elf_info_free(&info);
	return 0;
}
