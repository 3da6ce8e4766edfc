build2/asan/obj/images/ref.o: images/ref.c images/registry_priv.h \
 images/images_priv.h images/images.h images/../rootfs/rootfs.h
images/registry_priv.h:
images/images_priv.h:
images/images.h:
images/../rootfs/rootfs.h:
