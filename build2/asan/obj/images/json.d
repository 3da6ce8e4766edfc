build2/asan/obj/images/json.o: images/json.c images/images_priv.h \
 images/images.h images/../rootfs/rootfs.h
images/images_priv.h:
images/images.h:
images/../rootfs/rootfs.h:
