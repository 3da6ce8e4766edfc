build2/asan/obj/images/registry_pull.o: images/registry_pull.c \
 images/registry_priv.h images/images_priv.h images/images.h \
 images/../rootfs/rootfs.h
images/registry_priv.h:
images/images_priv.h:
images/images.h:
images/../rootfs/rootfs.h:
