/* libFuzzer target: another image's SPDX document read as a --base's SBOM
 * (images/sbom.c image_sbom_parse), then copied under a base package the
 * way builder/sbom_base.c does and written back: any bytes give a list or
 * an error with a message; a list's parents are packages of the list, never
 * the package itself; the document written from it is JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../images/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_err err = {0};
	struct sbom_list l;
	if (image_sbom_parse((const char *)data, size, &l, &err) < 0) {
		if (!err.msg[0] || l.json || l.pkgs)
			abort();
		return 0;
	}
	if (!l.ns || strlen(l.sha1) != 40 || l.described >= (long)l.n)
		abort();
	struct sbom_package *p = calloc(l.n + 2, sizeof(*p));
	long *map = calloc(l.n + 1, sizeof(*map));
	if (!p || !map)
		abort();
	p[0] = (struct sbom_package){ .name = "fuzz:1", .parent = -1 };
	p[1] = (struct sbom_package){ .name = "base", .purpose = "CONTAINER", .parent = 0 };
	size_t n = 2;
	for (size_t i = 0; i < l.n; i++) {
		long q = l.pkgs[i].parent;
		if (q >= (long)l.n || q == (long)i || (q >= 0 && (long)i == l.described))
			abort();
		map[i] = -1;
		if ((long)i == l.described) {
			map[i] = 1;
			continue;
		}
		if (!l.pkgs[i].name)
			continue;
		p[n] = l.pkgs[i];
		p[n].parent = q >= 0 && q < (long)i && map[q] >= 0 ? map[q] : 1;
		map[i] = (long)n++;
	}
	struct sbom_extdoc x = { .ns = l.ns, .sha1 = l.sha1, .package = 1 };
	struct sbom_doc d = { p, n,
		"sha256:0000000000000000000000000000000000000000000000000000000000000000", 0, &x };
	char *doc = NULL;
	if (image_sbom_spdx(&d, &doc, &err) < 0 || !doc)
		abort();
	json_t *j = json_loads(doc, 0, NULL);
	if (!j)
		abort();
	json_decref(j);
	free(doc);
	free(p);
	free(map);
	image_sbom_list_free(&l);
	return 0;
}
