build2/asan/obj/images/registry_out.o: images/registry_out.c \
 images/registry_priv.h images/images_priv.h images/images.h \
 images/../rootfs/rootfs.h
images/registry_priv.h:
images/images_priv.h:
images/images.h:
images/../rootfs/rootfs.h:
