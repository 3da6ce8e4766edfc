/* libFuzzer target: Go build information read from a binary's bytes
 * (builder/goinfo.c) and the SBOM written from it (builder/sbom.c,
 * images/sbom.c): any bytes give packages or an error, and the document,
 * when written, is JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../builder/builder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_err err = {0};
	struct sbom_inputs in = {
		.image_name = "fuzz:latest", .app = data, .app_len = size,
		.app_name = "fuzz", .app_path = "/app/fuzz",
	};
	struct sbom_build b;
	if (sbom_collect(&in, &b, &err) < 0) {
		if (!err.msg[0])
			abort();
		return 0;
	}
	struct sbom_doc d = { b.pkgs, b.n,
		"sha256:0000000000000000000000000000000000000000000000000000000000000000", 0 };
	char *doc = NULL;
	if (image_sbom_spdx(&d, &doc, &err) == 0) {
		json_t *j = json_loads(doc, 0, NULL);
		if (!j)
			abort();
		json_decref(j);
		free(doc);
	} else if (!err.msg[0]) {
		abort();
	}
	sbom_build_free(&b);
	return 0;
}
