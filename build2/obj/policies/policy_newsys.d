build2/obj/policies/policy_newsys.o: policies/policy_newsys.c \
 policies/policy_int.h policies/policies.h
policies/policy_int.h:
policies/policies.h:
