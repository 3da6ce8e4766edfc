build2/obj/builder/cmd_push.o: builder/cmd_push.c builder/builder.h \
 builder/../images/images.h builder/../images/../rootfs/rootfs.h
builder/builder.h:
builder/../images/images.h:
builder/../images/../rootfs/rootfs.h:
