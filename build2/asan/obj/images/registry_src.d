build2/asan/obj/images/registry_src.o: images/registry_src.c \
 images/registry_priv.h images/images_priv.h images/images.h \
 images/../rootfs/rootfs.h
images/registry_priv.h:
images/images_priv.h:
images/images.h:
images/../rootfs/rootfs.h:
