build2/asan/obj/rootfs/hosttree.o: rootfs/hosttree.c rootfs/rootfs_priv.h \
 rootfs/rootfs.h
rootfs/rootfs_priv.h:
rootfs/rootfs.h:
