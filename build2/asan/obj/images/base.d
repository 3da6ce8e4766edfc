build2/asan/obj/images/base.o: images/base.c images/registry_priv.h \
 images/images_priv.h images/images.h images/../rootfs/rootfs.h
images/registry_priv.h:
images/images_priv.h:
images/images.h:
images/../rootfs/rootfs.h:
