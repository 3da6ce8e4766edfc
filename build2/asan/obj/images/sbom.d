build2/asan/obj/images/sbom.o: images/sbom.c images/images_priv.h \
 images/images.h images/../rootfs/rootfs.h
images/images_priv.h:
images/images.h:
images/../rootfs/rootfs.h:
