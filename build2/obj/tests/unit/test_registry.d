build2/obj/tests/unit/test_registry.o: tests/unit/test_registry.c \
 tests/unit/../../images/registry_priv.h \
 tests/unit/../../images/images_priv.h tests/unit/../../images/images.h \
 tests/unit/../../images/../rootfs/rootfs.h
tests/unit/../../images/registry_priv.h:
tests/unit/../../images/images_priv.h:
tests/unit/../../images/images.h:
tests/unit/../../images/../rootfs/rootfs.h:
