build2/asan/obj/images/read.o: images/read.c images/images_priv.h \
 images/images.h images/../rootfs/rootfs.h
images/images_priv.h:
images/images.h:
images/../rootfs/rootfs.h:
