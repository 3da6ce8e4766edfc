/* libFuzzer harness for the policy parser, compiler and exporter:
 * `make fuzz-policies` (FUZZ_SECONDS, default 60).  Any input must give a
 * policy or an error message, never a crash, leak or undefined behaviour;
 * whatever compiles must pass the file-format check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policies.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p;
	struct mb_err err = {0};

	if (policy_parse((const char *)data, size, "fuzz.json", &p, &err) < 0) {
		if (!err.msg[0])
			abort();
		return 0;
	}
	static const char *const archs[] = { "x86_64", "aarch64" };
	for (int a = 0; a < 2; a++) {
		unsigned char *out;
		size_t len;
		struct policy_compile_opts o = { .arch = archs[a], .caps = a ? "CAP_SYS_ADMIN" : NULL };
		if (policy_compile(p, &o, &out, &len, &err) == 0) {
			if (policy_file_check(out, len, NULL, NULL, NULL, &err) < 0)
				abort();
			free(out);
		}
		char *json;
		if (policy_export(p, a ? "oci" : "docker", archs[a], NULL, &json, &err) == 0)
			free(json);
		if (policy_summary(p, NULL, archs[a], NULL, &json, &err) == 0)
			free(json);
	}
	policy_free(p);
	return 0;
}
