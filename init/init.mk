# init/: minbase-init, the static musl PID 1.
# The gRPC health probe: HPACK, HTTP/2 frames, the check.
INIT_GRPC_SRCS := init/hpack.c init/h2.c init/grpc_probe.c
# (patsubst, not $(call musl_objs): the helpers are defined after the
# fragments are included, so they expand to nothing here.)
INIT_SRCS := init/main.c init/supervise.c init/privs.c init/seccomp.c init/health.c init/grammar.c \
             init/parse.c init/sys.c $(INIT_GRPC_SRCS)
# What the unit tests link: everything but main.c and the real syscall layer
# (tests/unit/test_init_*.c bring a recording fake of sys.c).
INIT_LIB_SRCS := init/privs.c init/seccomp.c init/health.c init/parse.c init/grammar.c \
                 $(INIT_GRPC_SRCS)

BINS += $(BUILD)/bin/minbase-init

$(BUILD)/bin/minbase-init: $(patsubst %.c,$(BUILD)/musl/obj/%.o,$(INIT_SRCS))
	@mkdir -p $(@D)
	$(MUSL_CC) $(MUSL_LDFLAGS) -o $@ $^ -lcap
	$(call check_static,$@)
	@size=$$(stat -c %s $@); if [ $$size -gt 131072 ]; then \
		echo "error: $@ is $$size bytes, over the 128 KiB budget" >&2; rm -f $@; exit 1; fi

UNIT_TESTS += test_init_privs test_init_seccomp test_init_health
test_init_privs_SRCS   := $(INIT_LIB_SRCS) tests/unit/test_init_fakesys.c
test_init_privs_LIBS   := -lcap
test_init_seccomp_SRCS := $(INIT_LIB_SRCS) tests/unit/test_init_fakesys.c
test_init_seccomp_LIBS := -lcap
test_init_health_SRCS  := $(INIT_LIB_SRCS) tests/unit/test_init_fakesys.c
test_init_health_LIBS  := -lcap

BENCHES += init
