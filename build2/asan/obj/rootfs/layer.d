build2/asan/obj/rootfs/layer.o: rootfs/layer.c rootfs/rootfs_priv.h \
 rootfs/rootfs.h
rootfs/rootfs_priv.h:
rootfs/rootfs.h:
