# Test support: small static helper programs that go inside test images
# (tests/tools/NAME.c -> build/tests/bin/NAME, static musl, no shell needed in
# an image), and the example services.

TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/bin/%,$(wildcard tests/tools/*.c))

$(BUILD)/tests/bin/%: $(BUILD)/musl/obj/tests/tools/%.o
	@mkdir -p $(@D)
	$(MUSL_CC) $(MUSL_LDFLAGS) -o $@ $^
	$(call check_static,$@)

test-support: $(TEST_TOOLS) $(TEST_SUPPORT_EXTRA)

# The quick-start job: build the example service, make an image of it with
# mkimage, run that image under runc and show what the service prints.
DEMO := $(BUILD)/demo
demo: deps build-all
	@mkdir -p $(DEMO)
	$(BUILD)/bin/mkimage --static tests/examples/hello/hello.c -o $(DEMO)/hello.tar \
		--tag minbase-demo:latest
	@echo "--- running $(DEMO)/hello.tar under runc ---"
	@/usr/bin/python3 tests/tools/testlib.py run-runc $(DEMO)/hello.tar

# Stress runs (minutes, not hours; outside `make test`): tests/stress/*.py,
# each case printing its figures on a STRESS line.
stress: deps build-all test-support
	/usr/bin/python3 -m pytest -p no:cacheprovider -s -rs $(STRESS_ARGS) tests/stress
.PHONY: stress
