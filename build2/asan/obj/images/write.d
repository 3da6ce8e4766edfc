build2/asan/obj/images/write.o: images/write.c images/images_priv.h \
 images/images.h images/../rootfs/rootfs.h
images/images_priv.h:
images/images.h:
images/../rootfs/rootfs.h:
